"""Generated gRPC code (tools/protogen.py); never edit by hand."""

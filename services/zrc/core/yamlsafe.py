"""YAML from users, parsed within bounds.

``yaml.safe_load`` never runs code, but 1 KB of nested aliases ("billion
laughs") expands to gigabytes once the document is turned into Python objects,
and deep nesting raises ``RecursionError``. ``params.yaml`` and ``meta.yaml``
are small flat mappings, so this loader refuses aliases outright (no real file
needs them), caps the size, the nesting depth and the node count, and reports
each as a clear error naming the limit.
"""

from __future__ import annotations

import yaml

from .limits import Limits, excerpt, limits


class YamlRefused(ValueError):
    """The document is not accepted; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message, self.line = message, line


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        lim = limits()
        self._max_depth, self._max_nodes = lim.yaml_depth, lim.yaml_nodes
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.AliasEvent):
            raise YamlRefused(f"an alias (*{excerpt(event.anchor or '', 40)}) is not accepted; write values out",
                              line)
        self._nodes += 1
        if self._nodes > self._max_nodes:
            raise YamlRefused(f"more than {self._max_nodes} values (limit {Limits.setting('yaml_nodes')})", line)
        self._depth += 1
        if self._depth > self._max_depth:
            raise YamlRefused(f"nested deeper than {self._max_depth} levels (limit {Limits.setting('yaml_depth')})",
                              line)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load(text: str | bytes) -> object:
    """Parse one small YAML document; YamlRefused for what is over the limits, yaml.YAMLError if malformed."""
    lim = limits()
    if len(text) > lim.yaml_bytes:
        raise YamlRefused(f"{len(text)} bytes (limit {Limits.setting('yaml_bytes')}={lim.yaml_bytes})")
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise YamlRefused(f"nested too deeply (limit {Limits.setting('yaml_depth')})") from None
    finally:
        loader.dispose()

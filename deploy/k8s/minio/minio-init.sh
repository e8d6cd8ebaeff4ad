#!/bin/sh
# Idempotent: buckets and a service user limited to them (compose one-shot job).
set -eu
mc alias set zrc http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
for b in zrc-datasets zrc-submissions zrc-results; do
  mc mb --ignore-existing "zrc/$b"
done
cat > /tmp/zrc-policy.json <<POLICY
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"],
  "Resource": ["arn:aws:s3:::zrc-*", "arn:aws:s3:::zrc-*/*"]}]}
POLICY
# Lifecycle rules: the store itself expires upload segments and staging objects left by gateways older than
# one-pass uploads (the gateways' sweeper does the same where a store has no lifecycle; both are idempotent).
# Unfinished multipart uploads (a gateway died mid-upload) MinIO aborts by itself (`stale_uploads_expiry`,
# 24 h by default) and the sweeper aborts them too (ZRC_RETAIN_UPLOAD_HOURS + the 24 h an upload stays parked).
mc ilm rule add --expire-days 2 --prefix uploads/ zrc/zrc-submissions 2>/dev/null || true
mc ilm rule add --expire-days 2 --prefix staging/ zrc/zrc-submissions 2>/dev/null || true
mc admin policy create zrc zrc-services /tmp/zrc-policy.json 2>/dev/null || true
mc admin user add zrc "$ZRC_S3_ACCESS_KEY" "$ZRC_S3_SECRET_KEY"
mc admin policy attach zrc zrc-services --user "$ZRC_S3_ACCESS_KEY" 2>/dev/null || true
echo "buckets and service user ready"

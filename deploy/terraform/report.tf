# The optional report bucket (create_report_bucket): the schedule writes `keycycle report` here,
# JSON and HTML (internal/lambdafn/report.go, docs/report.md).

locals {
  report_bucket = var.create_report_bucket ? coalesce(var.report_bucket_name, "${replace(lower(var.name), "_", "-")}-reports-${local.account}-${local.region}") : null
}

resource "aws_s3_bucket" "report" {
  count  = var.create_report_bucket ? 1 : 0
  bucket = local.report_bucket
  tags   = var.tags
}

resource "aws_s3_bucket_public_access_block" "report" {
  count                   = var.create_report_bucket ? 1 : 0
  bucket                  = aws_s3_bucket.report[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "report" {
  count  = var.create_report_bucket ? 1 : 0
  bucket = aws_s3_bucket.report[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "report" {
  count  = var.create_report_bucket ? 1 : 0
  bucket = aws_s3_bucket.report[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "report" {
  count  = var.create_report_bucket ? 1 : 0
  bucket = aws_s3_bucket.report[0].id
  rule {
    id     = "expire-old-reports"
    status = "Enabled"
    filter {
      prefix = var.report_prefix
    }
    expiration {
      days = var.report_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_policy" "report" {
  count  = var.create_report_bucket ? 1 : 0
  bucket = aws_s3_bucket.report[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TLSOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = ["arn:${local.partition}:s3:::${local.report_bucket}", "arn:${local.partition}:s3:::${local.report_bucket}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.report]
}

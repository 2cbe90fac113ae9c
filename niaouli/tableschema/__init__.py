"""Table Schema validation of tabular files (issue 21 §2, docs/schemas.md): a dataset's
attached schema, the validation of each file sent to it with frictionless, the
organisation's choice (refuse a failing file or publish it with its report) and the
reports kept for the quality score (`reports.latest_report`)."""

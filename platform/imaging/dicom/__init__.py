"""Django-free DICOM helpers for ingest: upload validation and de-identification."""

"""Publishing results: certificates (PDF/A, signed), Digital Calibration Certificates, exports, verification.

Entry points for the bench: :func:`reports.issue.issue_certificate` / ``issue_batch_summary`` (fill
:class:`reports.model.CertificateData` from the records), :func:`reports.model.content_hash` (the hash that
ties a PDF to its record), :func:`reports.verify.verify_pdf`, :func:`reports.signing.load_signer`,
:func:`reports.labconfig.load_laboratory`, and :func:`reports.samples.sample_certificate_data` for demos.
"""

"""Publishing results: certificates (PDF/A, signed), Digital Calibration Certificates, exports, verification."""

"""Local stand-ins for the providers' systems, on loopback, for the demo (`handoff run`) and the
tests: a real HAPI FHIR server (fhirserver/, from Maven Central), an MLLP receiver that answers
AA/AE/AR or withholds the ACK or resets, and an SMTP server (aiosmtpd) that keeps Direct mail.
Each keeps what it received the way a receiving system would (dedupe by its own key), so that a
test can count referrals per identity at the recipient."""

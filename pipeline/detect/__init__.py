"""Detection: explainable overdose and behavioural-health rules (issue 7)."""

"""The AI Act helpdesk: self-assessment, admission gate, compute ledger, cited answers."""

"""Render findings and audits: text, JSON, SARIF 2.1.0, GitHub annotations, tables."""

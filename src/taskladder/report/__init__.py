"""Outputs: tables (terminal, CSV, JSON, Markdown, LaTeX), figures, and the HTML report."""

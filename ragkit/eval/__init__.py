"""Evaluation against gold questions: deterministic retrieval, answer, citation and refusal metrics."""

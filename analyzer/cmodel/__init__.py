"""The C model: one parser over tree-sitter and the facts it extracts."""

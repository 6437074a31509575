"""Whole-tree knowledge: the fact index, boards and machine types, the fact cache."""

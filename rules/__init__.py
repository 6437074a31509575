"""qlint's rules: one module per hazard, discovered by walking this package.

A rule module defines one subclass of :class:`qlint.analyzer.rule.Rule`.
Its docstring has the sections *What it does*, *Why is this bad?*, *Example*
and *Use instead*; its examples live in ``fixtures/examples/<rule-name>/``
(``invalid/`` cases must fire, ``valid/`` cases must stay silent).
"""

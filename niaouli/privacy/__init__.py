"""The personal-data guard: finds personal data in a dataset's tables before it becomes
public, and the ways out (drop, hash, generalise, or confirm with a reason).

`detectors` (value patterns), `columns` (header words), `names` (person names in free
text), `scan` (a bounded scan of a layer's columns giving findings), `guard` (what
publication calls), `actions` (the anonymising actions), `reviews` (stored findings and
confirmations). See docs/privacy.md.
"""

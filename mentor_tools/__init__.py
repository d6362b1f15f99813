"""Tooling for mentors, not lesson material: grading a cohort with nbgrader, running the contests (see MENTORS.md).

Notebooks never import this package; the mentees' packages are ``shared`` and ``contest`` (the hackathons' metrics,
submission rule and tabular kit).
"""

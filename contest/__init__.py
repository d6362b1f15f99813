"""The contests' code that lessons may import: the metrics, the submission rule and the tabular kit.

``contest.metric`` scores, ``contest.submission`` decides whether a file is a valid submission (one rule, used by
the notebooks, the kit and the mentors' leaderboard), ``contest.tabular`` is the tabular contest's starter kit.
Preparing a contest and scoring the board are the mentors' (``mentor_tools.leaderboard``).
"""

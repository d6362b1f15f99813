"""The course as a static HTML book: `python book/build.py` runs the lessons and renders them with Sphinx."""

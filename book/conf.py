"""Sphinx's configuration of the course book: build.py stages the sources in book/_build/src, then runs it."""

project = "Deep into CNNs"
author = "the course's authors"
language = "en"
html_title = "Deep into CNNs"

extensions = [
    "myst_nb",  # notebooks and MyST Markdown
    "sphinx-mathjax-offline",  # MathJax served from the site itself, so formulas render without internet
]

# build.py executed every notebook in tiny mode and stripped what grading hides; render them as they are.
nb_execution_mode = "off"
nb_merge_streams = True  # one output block per cell, not one per print between two stderr lines

myst_enable_extensions = ["dollarmath", "amsmath"]  # the notebooks write formulas as $...$ and $$...$$
myst_heading_anchors = 3  # links to a section (MENTORS.md#running-a-contest) resolve to its heading

html_theme = "sphinx_book_theme"
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": False,  # it would offer the tiny-mode copy, not a lesson to work on
    "use_fullscreen_button": False,
}
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_copy_source = False  # the pages are the book; the sources are in the repository
html_show_sourcelink = False
html_last_updated_fmt = None

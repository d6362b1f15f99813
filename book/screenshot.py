"""Look at the built book: headless Chromium screenshots of the start page and of a lesson, checked.

    python book/screenshot.py                 # book/_build/html -> book/_build/screenshots/{start,lesson}.png
    python book/screenshot.py --lesson week3_cnn_lenet/03_lenet5.html

Each screenshot must exist, have the window's size and not be blank (its grey levels vary). The lesson's
HTML must hold a figure (an <img> of a notebook output, present in the site), and the figure must show in
its screenshot: the page is taken a second time with its images hidden, and enough pixels must differ.
Last, the site's own search (search.html, offline) is run in the browser for a word of the lesson's title
and must list the lesson. Without Chromium (Debian: `apt-get install chromium`) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageChops, ImageStat

BOOK = Path(__file__).resolve().parent
START_WINDOW = (1280, 1400)
# Tall enough to hold the lesson's first figure: a headless screenshot of a page scrolled to an anchor
# comes out blank above the anchor, so the window shows the page from its top.
LESSON_WINDOW = (1280, 2400)
LESSON = "week3_cnn_lenet/01_image_filters.html"  # a photograph and digits right after the introduction
MIN_GREY_STDDEV = 20.0  # a blank or near-uniform page has almost none
MIN_FIGURE_PIXELS = 20_000  # pixels that change when the images are hidden: a figure of at least ~140x140
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
HIDE_IMAGES = "<style>img { visibility: hidden !important; }</style>"


def find_browser() -> str | None:
    """Return the path of a Chromium-like browser, or None."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def first_figure(page: Path) -> str | None:
    """Return the src of the page's first notebook figure (an output image in _images/), or None."""
    figure = re.search(r'<img[^>]*src="([^"]*_images/[^"]+\.png)"', page.read_text(encoding="utf-8"))
    return figure.group(1) if figure else None


def title_word(page: Path) -> str:
    """Return the longest word of the page's title: something the site's search must find the page by."""
    title = re.search(r"<title>(.*?)</title>", page.read_text(encoding="utf-8"), re.S)
    return max(re.findall(r"[^\W\d_]{3,}", html.unescape(title.group(1)) if title else page.stem), key=len)


def run_browser(browser: str, arguments: list[str]) -> str:
    """Run headless Chromium with a fresh profile (nothing cached, nothing synced); return what it printed."""
    with tempfile.TemporaryDirectory() as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                   "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                   f"--user-data-dir={profile}",
                   "--virtual-time-budget=10000",  # time for the scripts to run and MathJax to typeset
                   *arguments]
        return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False).stdout


def screenshot(browser: str, url: str, out: Path, window: tuple[int, int]) -> None:
    """Write a PNG of the page at url as Chromium shows it in a window of the given size."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    run_browser(browser, [f"--window-size={window[0]},{window[1]}", f"--screenshot={out}", url])


def search_results(browser: str, site: Path, query: str) -> list[str]:
    """Return the pages the site's own search lists for query, as the browser shows them."""
    dom = run_browser(browser, ["--dump-dom", f"{(site / 'search.html').as_uri()}?q={query}"])
    return re.findall(r'<li class="kind-\w+"><a href="([^"#?]+)', dom)


def blank_problems(path: Path, window: tuple[int, int]) -> list[str]:
    """Return what is wrong with a screenshot: missing, not the window's size, or (nearly) blank."""
    if not path.exists():
        return [f"{path.name}: Chromium wrote no screenshot"]
    image = Image.open(path)
    problems = []
    if image.size != window:
        problems.append(f"{path.name}: {image.size[0]}x{image.size[1]} pixels, "
                        f"expected {window[0]}x{window[1]}")
    spread = ImageStat.Stat(image.convert("L")).stddev[0]
    if spread < MIN_GREY_STDDEV:
        problems.append(f"{path.name}: nearly uniform (grey level stddev {spread:.1f} < {MIN_GREY_STDDEV}): "
                        "a blank page?")
    return problems


def figure_pixels(with_images: Path, without_images: Path) -> int:
    """Return how many pixels differ between a page's screenshots with and without its images."""
    a, b = Image.open(with_images).convert("RGB"), Image.open(without_images).convert("RGB")
    if a.size != b.size:
        return 0
    changed = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > 16 else 0)
    return changed.histogram()[255]


def lesson_shots(browser: str, lesson: Path, out: Path) -> tuple[list[str], int]:
    """Take the lesson as it is and with its images hidden; return the problems and the figures' pixels."""
    shot, twin_shot = out / "lesson.png", out / "lesson-without-images.png"
    screenshot(browser, lesson.as_uri(), shot, LESSON_WINDOW)
    # The twin sits beside the page, so that its relative links (styles, scripts) resolve the same way.
    twin = lesson.with_name(f".screenshot-twin-{lesson.name}")
    html = lesson.read_text(encoding="utf-8")
    twin.write_text(html.replace("</head>", f"{HIDE_IMAGES}</head>", 1), encoding="utf-8")
    try:
        screenshot(browser, twin.as_uri(), twin_shot, LESSON_WINDOW)
    finally:
        twin.unlink()
    problems = blank_problems(shot, LESSON_WINDOW)
    if problems or not twin_shot.exists():
        return problems or [f"{twin_shot.name}: Chromium wrote no screenshot"], 0
    pixels = figure_pixels(shot, twin_shot)
    if pixels < MIN_FIGURE_PIXELS:
        problems.append(f"{shot.name}: only {pixels} pixels belong to images (< {MIN_FIGURE_PIXELS}): the "
                        "figure is not in view, or not drawn")
    return problems, pixels


def main(argv: list[str] | None = None) -> int:
    """Take and check the screenshots; return 0 if they pass (or Chromium is missing), else 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=BOOK / "_build" / "html", help="the built book")
    parser.add_argument("--out", type=Path, default=BOOK / "_build" / "screenshots", help="where the PNGs go")
    parser.add_argument("--lesson", default=LESSON, help=f"a lesson page with figures (default: {LESSON})")
    parser.add_argument("--query", default=None, help="a word to search the site for (default: the longest "
                        "word of the lesson's title)")
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print("skipped: Chromium is not installed (Debian: apt-get install chromium): no screenshots")
        return 0
    site = args.site.resolve()
    start, lesson = site / "index.html", site / args.lesson
    for page in (start, lesson):
        if not page.exists():
            print(f"{page} does not exist: build the book first (python book/build.py), or name a lesson "
                  "it holds with --lesson.", file=sys.stderr)
            return 1
    problems = []
    figure = first_figure(lesson)
    if figure is None:
        problems.append(f"{args.lesson} shows no figure (no <img> of a notebook output): were outputs "
                        "rendered?")
    elif not (lesson.parent / figure).exists():
        problems.append(f"{args.lesson}: its figure {figure} is missing from the site")
    screenshot(browser, start.as_uri(), args.out / "start.png", START_WINDOW)
    problems += blank_problems(args.out / "start.png", START_WINDOW)
    lesson_problems, pixels = lesson_shots(browser, lesson, args.out)
    problems += lesson_problems
    print(f"screenshots in {args.out}: start.png, lesson.png ({args.lesson}: {pixels} pixels of figures "
          "in view)")
    query = args.query or title_word(lesson)
    found = search_results(browser, site, query)
    print(f"searching the site for {query!r} lists {len(found)} page(s)")
    if args.lesson not in found:
        problems.append(f"the site's search for {query!r} does not list {args.lesson} (it lists {found[:5]})")
    if problems:
        print("Screenshot check failed:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""bench/flamegraph.py TITLE < perf-script-output > graph.svg

Draws a flame graph from `perf script -F ip,sym,dso` (stacks recorded with `perf record -g`):
one box per function in a stack, as wide as the share of samples it was on the stack for,
callers below callees. Kernel frames are red, the proxy's own green, libraries orange. Hover
a box for its name and share. Plain SVG, no script, so that any browser or viewer shows it.
"""
import html
import re
import sys
from collections import defaultdict

WIDTH = 1600
ROW = 16
MIN_WIDTH = 0.3  # Narrower boxes are not drawn.
FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def frame_name(symbol, dso):
    """The frame's function, without its offset; the library for an unknown symbol."""
    symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
    if symbol in ("", "[unknown]"):
        return "[" + dso.rsplit("/", 1)[-1] + "]"
    return symbol


def read_stacks(lines):
    """Counts of each stack, root first, from perf script's blank-line-separated samples."""
    counts = defaultdict(int)
    frames = []
    for line in lines:
        match = FRAME.match(line)
        if match:
            frames.append(frame_name(match.group(1), match.group(2)))
            continue
        if not line.strip() and frames:
            counts[tuple(reversed(frames))] += 1
            frames = []
    if frames:
        counts[tuple(reversed(frames))] += 1
    return counts


class Node:
    def __init__(self, name):
        self.name = name
        self.total = 0
        self.children = {}


def build_tree(counts):
    root = Node("all")
    for stack, n in counts.items():
        root.total += n
        node = root
        for name in stack:
            node = node.children.setdefault(name, Node(name))
            node.total += n
    return root


def color(name):
    if "[kernel" in name or re.match(r"^(__|do_|sys_|tcp_|ip_|sock_|ep_|vfs_|ksys_)", name):
        return "#e8735a"
    if "sightglass" in name or name.startswith("llhttp"):
        return "#6fbf73"
    return "#f0a848"


def depth_of(node):
    return 1 + max((depth_of(c) for c in node.children.values()), default=0)


def draw(root, title):
    rows = depth_of(root)
    height = (rows + 3) * ROW
    scale = WIDTH / max(root.total, 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="DejaVu Sans Mono, monospace" font-size="11">',
        f'<rect width="{WIDTH}" height="{height}" fill="#fdfdf8"/>',
        f'<text x="8" y="{ROW}" font-size="13">{html.escape(title)} '
        f"({root.total} samples)</text>",
    ]

    def box(node, x, depth):
        w = node.total * scale
        if w < MIN_WIDTH:
            return
        y = height - (depth + 1) * ROW
        share = 100.0 * node.total / root.total
        label = html.escape(node.name)
        out.append(
            f'<g><title>{label} ({share:.2f}%)</title>'
            f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{ROW - 1}" '
            f'fill="{color(node.name)}" rx="1"/>'
        )
        chars = int(w / 7)
        if chars >= 3:
            text = node.name if len(node.name) <= chars else node.name[: chars - 2] + ".."
            out.append(f'<text x="{x + 2:.2f}" y="{y + ROW - 4}">{html.escape(text)}</text>')
        out.append("</g>")
        child_x = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            box(child, child_x, depth + 1)
            child_x += child.total * scale

    box(root, 0.0, 0)
    out.append("</svg>")
    return "\n".join(out)


def main():
    title = sys.argv[1] if len(sys.argv) > 1 else "flame graph"
    root = build_tree(read_stacks(sys.stdin))
    sys.stdout.write(draw(root, title) + "\n")


if __name__ == "__main__":
    main()

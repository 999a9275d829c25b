"""Prints the fenced code block that follows `<!-- consumer-test: NAME -->` in a README (the consumer tests run the
READMEs' own text, not a copy). Usage: readme_block.py README.md NAME"""
import sys

lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
marker = f"<!-- consumer-test: {sys.argv[2]} -->"
try:
    start = lines.index(marker) + 1
except ValueError:
    sys.exit(f"{sys.argv[1]} has no block marked {marker}")
if not lines[start].startswith("```"):
    sys.exit(f"{sys.argv[1]}: the line after {marker} is not a code fence")
end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
print("\n".join(lines[start + 1:end]))

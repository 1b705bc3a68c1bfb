import hashlib, re, sys
changed = missing = same = 0
for line in open(sys.argv[1]):
    m = re.match(r"SHA256 \((.*)\) = ([0-9a-f]{64})$", line.rstrip("\n"))
    if not m:
        continue
    try:
        h = hashlib.sha256()
        f = open(m.group(1), "rb")
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        f.close()
    except (IOError, OSError):
        missing += 1
        continue
    if h.hexdigest() == m.group(2):
        same += 1
    else:
        changed += 1
        sys.stdout.write("changed since the inspection: %s\n" % m.group(1))
sys.stdout.write("%d unchanged, %d changed, %d missing\n" % (same, changed, missing))

"""How much memory this process has left, and how much a call takes: what tools/infer.py
and deploy/tiling.py read to choose a tile size before a whole image would not fit. Linux's
counters (/proc, cgroup v2, rlimits); None where they are missing.
"""


def _read_number(path, key=None):
    """The integer in file `path` (or on its line starting with `key`), None if absent."""
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                if key is None or line.startswith(key):
                    value = line.split()[1 if key else 0]
                    return int(value) if value.isdigit() else None
    except OSError:
        return None
    return None


def available_memory():
    """Bytes this process can still allocate, the least of what Linux tells: MemAvailable of
    /proc/meminfo, the container's cgroup limit minus its use (memory.max), the address-space
    limit (ulimit -v) minus what is mapped. None when nothing is known (not Linux)."""
    import resource
    limits = []
    kib = _read_number("/proc/meminfo", "MemAvailable:")
    if kib is not None:
        limits.append(kib * 1024)
    cap = _read_number("/sys/fs/cgroup/memory.max")  # "max" (no limit) reads as None
    used = _read_number("/sys/fs/cgroup/memory.current")
    if cap is not None and used is not None:
        limits.append(cap - used)
    space = resource.getrlimit(resource.RLIMIT_AS)[0]
    mapped = _read_number("/proc/self/status", "VmSize:")
    if space != resource.RLIM_INFINITY and mapped is not None:
        limits.append(space - mapped * 1024)
    return max(0, min(limits)) if limits else None


def peak_memory_rise(fn):
    """Call fn(); returns how far this process's peak resident memory rose above its
    resident memory at the call (bytes): the peak (VmHWM) is reset first through
    /proc/self/clear_refs. None where Linux's counters are missing (then fn still runs)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # 5: reset the peak resident set size
    except OSError:
        fn()
        return None
    before = _read_number("/proc/self/status", "VmRSS:")
    fn()
    peak = _read_number("/proc/self/status", "VmHWM:")
    return None if before is None or peak is None else max(0, peak - before) * 1024

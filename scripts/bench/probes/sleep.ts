// Baseline for the memory benchmarks: a compiled Bun program that only sleeps.
setInterval(() => {}, 2 ** 31 - 1);

// Collections (a class, or the classes sharing a [Collection]) run in parallel; the tests of one collection run one after
// another. The rig-backed tests mostly wait — on a browser, a server process's start, Dovecot's 10 s [IN-USE] lock wait,
// a token's expiry — not on the CPU, so four at a time overlap those waits on a 2-core machine (xunit's default is one
// per core). Tests that need the machine to themselves (failover, drain, process kills) keep their own collections.
[assembly: CollectionBehavior(MaxParallelThreads = 4)]

"""The planners: every state transition of the registry, as pure functions of the current state
and the request.

A planner takes what a store read (a version, an alias, a name's latest number) and what the
caller asks for, raises the domain's refusal when the rules forbid it, and returns what to
write: the new record and the events that go with it. It reads nothing and writes nothing. A
store then only reads the current state, applies the plan atomically (a transaction, an
advisory lock, or a compare-and-swap on a revision) and, where a concurrent writer got there
first, reads again and plans again through :func:`.retry.retrying`.

So each rule has one home: a fix reaches every backend, and a new backend is a translation.
"""

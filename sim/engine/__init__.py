"""The simulation engine: scenarios, SimPy actors, invariants and run outputs."""

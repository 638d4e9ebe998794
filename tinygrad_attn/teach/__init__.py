"""Teaching material built on the engine: what lessons, notebooks and the CLI share.

    worked_example.py  the three-token attention example, its numbers typed once
    tasks/             the generated training tasks, one module per family
                       (base.py, sequences.py: copy/reverse/sort/induction, bank.py)
    soft_hard.py       soft vs hard attention and temperature on the worked example, in numbers
    exercises/         exercises that check themselves: statements, reference solutions in
                       NumPy, checks that name the place, the nbgrader-style notebooks
    bugzoo/            classic bugs planted in a working engine, and the checker that finds them

Nothing here is needed to compute anything: the engine below does not import this layer.
"""

"""`python -m tinygrad_attn ...` runs the `tinygrad-attn` command."""
from .cli import main

if __name__ == "__main__":  # importing this module (a test does) runs nothing
    raise SystemExit(main())

from nnx_lint.cli import main

raise SystemExit(main())

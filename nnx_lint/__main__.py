from nnx_lint.launch import main

raise SystemExit(main())

from genad.cli import main

raise SystemExit(main())

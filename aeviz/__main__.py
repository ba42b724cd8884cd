import sys

from aeviz.cli.main import main

sys.exit(main())

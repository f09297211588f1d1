import sys

from fiubench.cli.main import main

sys.exit(main())

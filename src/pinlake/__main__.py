from pinlake.cli import main

main()

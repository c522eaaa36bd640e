/// stscache's release version, written in this one place: `stscache --version` prints it, and
/// `scripts/version` reads this line for the Debian package (`scripts/package`). The e2e suite
/// (Tests/e2e/test_install.py) checks that the binary, the script and the package agree.
let stscacheVersion = "0.1.0"

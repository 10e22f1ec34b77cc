package resguardo

// Version is the release version, set at build time with
// -ldflags "-X github.com/resguardo/resguardo.Version=…".
var Version = "dev"

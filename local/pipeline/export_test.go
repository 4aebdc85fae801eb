package pipeline

// OpenLakeSink is openLakeSink, for the tests of CleanLake.
var OpenLakeSink = openLakeSink

// Ordered is ordered, for its test.
var Ordered = ordered

package natsevents

// SubjectOf exposes subjectOf to the external tests.
var SubjectOf = subjectOf

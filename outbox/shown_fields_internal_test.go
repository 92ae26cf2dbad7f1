package outbox

import (
	"reflect"
	"testing"
)

// TestShownQueueKeepsEveryExportedField: a Queue prints as a struct named
// Queue with its exported fields, in order, and nothing else, so that a
// field added to Queue is not left out of printing, nor printed whole,
// without this test saying so.
func TestShownQueueKeepsEveryExportedField(t *testing.T) {
	shown := reflect.TypeOf((&Queue{}).shown()).Elem()
	if shown.Name() != "Queue" {
		t.Errorf("a Queue prints as a %v", shown)
	}
	var exported, printed []string
	for f := range reflect.TypeFor[Queue]().Fields() {
		if f.IsExported() {
			exported = append(exported, f.Name)
		}
	}
	for f := range shown.Fields() {
		printed = append(printed, f.Name)
	}
	if !reflect.DeepEqual(exported, printed) {
		t.Errorf("Queue has exported fields %v, its printed form %v", exported, printed)
	}
}

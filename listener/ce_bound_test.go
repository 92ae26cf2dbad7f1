package listener

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestStructuredStopsAtTheBound: a structured CloudEvent of 100,000
// attributes, about a megabyte, is refused once past the bound, as the
// native envelope's context is, whether the attributes carry values or are
// null (absent, which no bound counted: the strict decoder read all of
// them into its map, 28 MB for a body of 1 MB): refusing it costs about the
// allocations of refusing one of 100.
func TestStructuredStopsAtTheBound(t *testing.T) {
	for _, value := range []string{`"v"`, `null`} {
		refuse := func(n int) float64 {
			items := make([]string, n)
			for i := range items {
				items[i] = fmt.Sprintf(`"x%d":%s`, i, value)
			}
			body := []byte(`{"specversion":"1.0","id":"e-1","source":"/s","type":"records:created",` +
				strings.Join(items, ",") + `,"data":{}}`)
			var err error
			allocs := testing.AllocsPerRun(3, func() { _, err = parseStructured(body) })
			if !errors.Is(err, ErrInvalidEvent) || !strings.Contains(err.Error(), "more than") {
				t.Fatalf("%d attributes of %s: %v, want ErrInvalidEvent, more than", n, value, err)
			}
			return allocs
		}
		few, many := refuse(100), refuse(100_000)
		if many > few+64 {
			t.Errorf("attributes of %s: %.0f allocations to refuse 100,000, %.0f to refuse 100; want about as many",
				value, many, few)
		}
	}
}

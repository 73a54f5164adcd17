package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestWriterWritesOneJSONObjectPerLine(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Write(Record{Time: time.Unix(0, 0).UTC(), RunID: "r", AccountID: "111111111111", User: "alice", Action: "rotate", Event: "key_created", Outcome: "done"})
		}()
	}
	wg.Wait()
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.User != "alice" {
			t.Fatalf("line %d: %v %q", n, err, sc.Text())
		}
		n++
	}
	if n != 50 || w.Err() != nil {
		t.Fatalf("lines %d, err %v", n, w.Err())
	}
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterKeepsFirstError(t *testing.T) {
	w := NewWriter(failing{})
	w.Write(Record{})
	if w.Err() == nil {
		t.Fatal("a failed write must be reported")
	}
	var nilW *Writer
	nilW.Write(Record{}) // a nil writer audits nothing and does not panic
}

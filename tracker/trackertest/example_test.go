package trackertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/trackertest"
)

// loginHandler is application code: it takes a tracker.Putter, which is a
// *tracker.AsyncWriter in production, tracker.Discard when tracking is off,
// and a *trackertest.Recorder in unit tests.
func loginHandler(events tracker.Putter, proxies tracker.Proxies) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.FormValue("user") // ... after checking the password
		e := tracker.Event{UserID: user, Type: "login", Attributes: map[string]string{"method": "password"}}
		if err := events.Put(r.Context(), e.WithRequest(r, proxies)); err != nil {
			// Tracking never fails a login; log and carry on.
			fmt.Println("not tracked:", err)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// printT stands in for the *testing.T a real test passes: the assertions
// take anything with Helper and Errorf.
type printT struct{}

func (printT) Helper()                           {}
func (printT) Errorf(format string, args ...any) { fmt.Printf("FAIL: "+format+"\n", args...) }

// A unit test of application code: no DynamoDB, the tracker's own
// validation, assertions on what was tracked.
func ExampleRecorder() {
	var t trackertest.T = printT{} // in a test: t *testing.T
	rec, err := trackertest.New(tracker.Config{IPPolicy: tracker.IPAnonymize})
	if err != nil {
		fmt.Println(err)
		return
	}
	r := httptest.NewRequest(http.MethodPost, "/login?user=42", nil)
	r.RemoteAddr = "198.51.100.23:50412"
	loginHandler(rec, tracker.Proxies{}).ServeHTTP(httptest.NewRecorder(), r)

	e := rec.AssertTracked(t, trackertest.Match{Type: "login", UserID: "42", Attributes: map[string]string{"method": "password"}})
	rec.AssertNoRejected(t)
	fmt.Println(e.Type, e.UserID, e.IP)

	rec.AssertTracked(t, trackertest.Match{Type: "logout"})
	// Output:
	// login 42 198.51.100.0
	// FAIL: trackertest: no event with type="logout" was tracked; tracked: login user_id="42" anonymous_id="" attributes=map[method:password]
}

package event_test

import (
	"fmt"

	"github.com/waybill-eu/waybill/agent/event"
)

func ExampleNew() {
	moving := false
	ev, err := event.New(event.DoorOpened{Door: "rear", Moving: &moving})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.Kind, string(ev.Payload))

	_, err = event.New(event.Shock{G: 2.5, Type: "bump"})
	fmt.Println(err)
	// Output:
	// door_opened {"door":"rear","moving":false}
	// invalid event: payload of shock: field "type": value "bump" is not one of impact, harsh_braking, harsh_acceleration, drop
}

func ExampleLookup() {
	s, _ := event.Lookup(event.KindZoneLeft)
	fmt.Println(s.Doc, s.Fields["zone"].Required)
	// Output: the device left a configured zone true
}

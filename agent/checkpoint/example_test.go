package checkpoint_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/waybill-eu/waybill/agent/checkpoint"
)

func ExampleSignCheckpoint() {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	name := "waybill/demo/0x0000000000000000000000000000000000000001"
	signer, err := checkpoint.NewEd25519Signer(name, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		panic(err)
	}
	c := checkpoint.Checkpoint{
		Origin: name + "/0",
		Size:   5,
		Root:   sha256.Sum256([]byte("waybill golden root")),
	}
	signed, err := checkpoint.SignCheckpoint(c, signer)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(signed))

	vkey, _ := checkpoint.VerifierKey(name, ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	verifier, err := checkpoint.ParseVerifierKey(vkey)
	if err != nil {
		panic(err)
	}
	got, _, err := checkpoint.OpenCheckpoint(signed, verifier)
	fmt.Println(got.Size, err)
	// Output:
	// waybill/demo/0x0000000000000000000000000000000000000001/0
	// 5
	// SJA71zF7lvJ34SXCNItkLILV3Q3NUaD47uPMvNkuX2Q=
	//
	// — waybill/demo/0x0000000000000000000000000000000000000001 921hTDuSvvZCdcEo/9pr8Uv/23H+XSzcXlCXfUYWvOL5R154HHE2dw6yrtMFNVLuMyRHbe3QWKAIOaTIZUDeOmcN/w0=
	// 5 <nil>
}

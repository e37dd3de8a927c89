// Code generated via abigen V2 - DO NOT EDIT.
// This file is a generated binding and any manual changes will be lost.

package registry

import (
	"bytes"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Reference imports to suppress errors if they are not otherwise used.
var (
	_ = bytes.Equal
	_ = errors.New
	_ = big.NewInt
	_ = common.Big1
	_ = types.BloomLookup
	_ = abi.ConvertType
)

// WaybillRegistrySignedEvent is an auto generated low-level Go binding around an user-defined struct.
type WaybillRegistrySignedEvent struct {
	Device     common.Address
	Epoch      uint32
	Seq        uint64
	Time       uint64
	TimeSource string
	Kind       string
	Payload    []byte
	Sig        []byte
}

// WaybillRegistryMetaData contains all meta data concerning the WaybillRegistry contract.
var WaybillRegistryMetaData = bind.MetaData{
	ABI: "[{\"inputs\":[{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"}],\"name\":\"AlreadyAnchored\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"BadSignature\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"anchoredRoot\",\"type\":\"bytes32\"},{\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"}],\"name\":\"ConflictingRoot\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"EmptyTree\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint64\",\"name\":\"anchoredSize\",\"type\":\"uint64\"},{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"}],\"name\":\"InconsistentRoot\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"InvalidFleet\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint64\",\"name\":\"anchoredSize\",\"type\":\"uint64\"},{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"}],\"name\":\"SizeBackwards\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"ZeroDevice\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"ZeroRoot\",\"type\":\"error\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"device\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"logId\",\"type\":\"bytes32\"},{\"indexed\":true,\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"indexed\":false,\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"},{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"previousSize\",\"type\":\"uint64\"},{\"indexed\":false,\"internalType\":\"string\",\"name\":\"origin\",\"type\":\"string\"}],\"name\":\"Anchored\",\"type\":\"event\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"device\",\"type\":\"address\"},{\"internalType\":\"string\",\"name\":\"fleet\",\"type\":\"string\"},{\"internalType\":\"uint32\",\"name\":\"epoch\",\"type\":\"uint32\"},{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"},{\"internalType\":\"bytes\",\"name\":\"sig\",\"type\":\"bytes\"},{\"internalType\":\"bytes32[]\",\"name\":\"consistency\",\"type\":\"bytes32[]\"}],\"name\":\"anchor\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"string\",\"name\":\"fleet\",\"type\":\"string\"}],\"name\":\"domainSeparator\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"logId\",\"type\":\"bytes32\"}],\"name\":\"head\",\"outputs\":[{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"blockNumber\",\"type\":\"uint64\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"device\",\"type\":\"address\"},{\"internalType\":\"string\",\"name\":\"fleet\",\"type\":\"string\"},{\"internalType\":\"uint32\",\"name\":\"epoch\",\"type\":\"uint32\"}],\"name\":\"logIdOf\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"pure\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"device\",\"type\":\"address\"},{\"internalType\":\"string\",\"name\":\"fleet\",\"type\":\"string\"},{\"internalType\":\"uint32\",\"name\":\"epoch\",\"type\":\"uint32\"}],\"name\":\"originOf\",\"outputs\":[{\"internalType\":\"string\",\"name\":\"\",\"type\":\"string\"}],\"stateMutability\":\"pure\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"logId\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"}],\"name\":\"rootAt\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"string\",\"name\":\"fleet\",\"type\":\"string\"},{\"components\":[{\"internalType\":\"address\",\"name\":\"device\",\"type\":\"address\"},{\"internalType\":\"uint32\",\"name\":\"epoch\",\"type\":\"uint32\"},{\"internalType\":\"uint64\",\"name\":\"seq\",\"type\":\"uint64\"},{\"internalType\":\"uint64\",\"name\":\"time\",\"type\":\"uint64\"},{\"internalType\":\"string\",\"name\":\"timeSource\",\"type\":\"string\"},{\"internalType\":\"string\",\"name\":\"kind\",\"type\":\"string\"},{\"internalType\":\"bytes\",\"name\":\"payload\",\"type\":\"bytes\"},{\"internalType\":\"bytes\",\"name\":\"sig\",\"type\":\"bytes\"}],\"internalType\":\"structWaybillRegistry.SignedEvent\",\"name\":\"ev\",\"type\":\"tuple\"},{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"internalType\":\"bytes32[]\",\"name\":\"inclusion\",\"type\":\"bytes32[]\"}],\"name\":\"verifyEvent\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"view\",\"type\":\"function\"}]",
	ID:  "WaybillRegistry",
	Bin: "0x6080604052348015600f57600080fd5b50611de98061001f6000396000f3fe608060405234801561001057600080fd5b506004361061007d5760003560e01c8063d561e3011161005b578063d561e30114610101578063d9e8590914610116578063e3556f5714610136578063f339e3b21461014957600080fd5b806369387647146100825780636fbeef73146100aa578063930b6ace146100cb575b600080fd5b6100956100903660046116a3565b6101f4565b60405190151581526020015b60405180910390f35b6100bd6100b8366004611757565b610562565b6040519081526020016100a1565b6100bd6100d9366004611798565b60009182526001602090815260408084206001600160401b0393909316845291905290205490565b61011461010f3660046117ef565b610577565b005b6101296101243660046118d1565b6105fe565b6040516100a19190611985565b6100bd6101443660046118d1565b610617565b6101c1610157366004611998565b600081815260208181526040808320815160608101835290546001600160401b03808216808452600160401b83048216848701908152600160801b909304821684860190815297875260018652848720935190911686529190935292205490519251919390929190565b604080516001600160401b03958616815260208101949094529184169183019190915290911660608201526080016100a1565b60008061020460208701876119b1565b6001600160a01b03161480610220575061021e8787610636565b155b1561022d57506000610558565b661fffffffffffff61024560608701604088016119cc565b6001600160401b031611806102785750661fffffffffffff61026d60808701606088016119cc565b6001600160401b0316115b806102a457506001600160401b03841661029860608701604088016119cc565b6001600160401b031610155b156102b157506000610558565b6120006102c160c08701876119e7565b905011806102de57506102d760e08601866119e7565b9050604114155b156102eb57506000610558565b60006102fa60808701876119e7565b604051610308929190611a2d565b6040518091039020905061031b81610760565b1580610339575061033761033260a08801886119e7565b610805565b155b15610348576000915050610558565b604083111561035b576000915050610558565b60006001816103878b8b61037260208d018d6119b1565b61038260408e0160208f01611a3d565b6108f1565b8051602091820120825281810192909252604090810160009081206001600160401b038a1682529092529020549050806103c657600092505050610558565b6103fd85856103db60608b0160408c016119cc565b6001600160401b0316896001600160401b03166103f78c610970565b86610b2e565b61040c57600092505050610558565b60007fb086f72aaba632439dfe183283f6742805042c074782beb97c6e035d8f2d6b5961043c60208a018a6119b1565b61044c60408b0160208c01611a3d565b61045c60608c0160408d016119cc565b61046c60808d0160608e016119cc565b8761047a60a08f018f6119e7565b604051610488929190611a2d565b60405180910390208e8060c001906104a091906119e7565b6040516104ae929190611a2d565b6040805191829003822060208301999099526001600160a01b039097169681019690965263ffffffff90941660608601526001600160401b039283166080860152911660a084015260c083015260e0820152610100810191909152610120016040516020818303038152906040528051906020012090506105526105338b8b84610c23565b61054060e08b018b6119e7565b61054d60208d018d6119b1565b610c6e565b93505050505b9695505050505050565b600061056e8383610df5565b90505b92915050565b60008061058a8c8c8c8c8c8c8c8c610eb9565b91509150600061059d838a8a888861101c565b9050886001600160401b0316838e6001600160a01b03167f1f784fdef014d96b92e48e68cd8a46168e224bfe3aba434ff45964ff38d0b3e38b85876040516105e793929190611a58565b60405180910390a450505050505050505050505050565b606061060c848487856108f1565b90505b949350505050565b6000610625848487856108f1565b805190602001209050949350505050565b600082828015806106475750603f81115b1561065757600092505050610571565b60005b8181101561075457600083838381811061067657610676611a80565b909101356001600160f81b031916915060009050606160f81b82108015906106ac5750603d60f91b6001600160f81b0319831611155b806106de5750600360fc1b6001600160f81b03198316108015906106de5750603960f81b6001600160f81b0319831611155b90508015801561073757508215806107375750601760f91b6001600160f81b031983161480159061071d5750605f60f81b6001600160f81b0319831614155b80156107375750602d60f81b6001600160f81b0319831614155b1561074a57600095505050505050610571565b505060010161065a565b50600195945050505050565b60007f2225e51b7e11f877820d886a049943b4577b11badf747db226a447b0212495708214806107af57507ff83fc4d2fe9aafe1c3b8ff501620d7eaabafc9fa0cf43341f6f47fd9f142c4e082145b806107d957507f534dbbd025c713172e45071f7d452cfd78d66132150badd9ca18ec7a8d3726ec82145b806105715750507f6352f507b98ec816d324003e3f5bf7a3ca0a7a88000b14fe90eb001b63bd8a031490565b600082828015806108165750603081115b1561082657600092505050610571565b60005b8181101561075457600083838381811061084557610845611a80565b909101356001600160f81b031916915060009050606160f81b821080159061087b5750603d60f91b6001600160f81b0319831611155b9050801580156108d457508215806108d45750600360fc1b6001600160f81b03198316108015906108ba5750603960f81b6001600160f81b0319831611155b806108d25750605f60f81b6001600160f81b03198316145b155b156108e757600095505050505050610571565b5050600101610829565b6060848461093585604051602001610921919060609190911b6bffffffffffffffffffffffff1916815260140190565b604051602081830303815290604052611206565b6109448563ffffffff166113ca565b6040516020016109579493929190611a96565b6040516020818303038152906040529050949350505050565b6000806109ab61098360208501856119b1565b604051602001610921919060609190911b6bffffffffffffffffffffffff1916815260140190565b6109c96109be6040860160208701611a3d565b63ffffffff166113ca565b6109d660a08601866119e7565b6040516020016109e99493929190611b03565b60405160208183030381529060405290506000610a20846040016020810190610a1291906119cc565b6001600160401b03166113ca565b610a6a610a3060e08701876119e7565b8080601f01602080910402602001604051908101604052809392919081815260200183838082843760009201919091525061120692505050565b610a7d610a1260808801606089016119cc565b610a8a60808801886119e7565b604051602001610a9e959493929190611ba3565b60408051601f198184030181529190529050600282610ac060c08701876119e7565b84604051602001610ad49493929190611c6a565b60408051601f1981840301815290829052610aee91611ca5565b602060405180830381855afa158015610b0b573d6000803e3d6000fd5b5050506040513d601f19601f8201168201806040525081019061060f9190611cc1565b6000838510610b3f57506000610558565b846000610b4d600187611cf0565b90508460005b89811015610c0a5782600003610b70576000945050505050610558565b8360011660011480610b8157508284145b15610bd557610ba88b8b83818110610b9b57610b9b611a80565b9050602002013583611464565b91505b60018416158015610bbb57508315155b15610bd057600193841c939290921c91610bab565b610bfa565b610bf7828c8c84818110610beb57610beb611a80565b90506020020135611464565b91505b600193841c9392831c9201610b53565b5081158015610552575090931498975050505050505050565b6000610c2f8484610df5565b60405161190160f01b60208201526022810191909152604281018390526062016040516020818303038152906040528051906020012090509392505050565b600060418314610c805750600061060f565b6000610c8f6020828688611d03565b610c9891611d2d565b90506000610caa604060208789611d03565b610cb391611d2d565b9050600086866040818110610cca57610cca611a80565b919091013560f81c915050601b8114801590610cea57508060ff16601c14155b15610cfb576000935050505061060f565b821580610d1a575070014551231950b75fc4402da1732fc9bebe198310155b80610d23575081155b80610d4d57507f7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a082115b15610d5e576000935050505061060f565b604080516000808252602082018084528b905260ff841692820192909252606081018590526080810184905260019060a0016020604051602081039080840390855afa158015610db2573d6000803e3d6000fd5b5050604051601f1901519150506001600160a01b03811615801590610de85750856001600160a01b0316816001600160a01b0316145b9998505050505050505050565b60007fa604fff5a27d5951f334ccda7abff3286a8af29caeeb196a6f2b40a1dce7612b7f5096cd8aaefe8c267a0c8e1533f421e709875948370594bf175f4378b7c31a777fc89efdaa54c0f20c7adf612882df0950f5a951637e0307cdcb4c672f298b8bc6468686604051610e6b929190611a2d565b6040805191829003822060208301969096528101939093526060830191909152608082015260a081019190915260c00160405160208183030381529060405280519060200120905092915050565b600060606001600160a01b038a16610ee45760405163bf064c4760e01b815260040160405180910390fd5b610eee8989610636565b610f0b5760405163fd9a347d60e01b815260040160405180910390fd5b856001600160401b0316600003610f3557604051639136328760e01b815260040160405180910390fd5b84610f535760405163b263ae7360e01b815260040160405180910390fd5b610f5f89898c8a6108f1565b90508080519060200120915060007ffd13d4f8b3109efc1d0d62b0b98a81ac2fbedc94e79471ec461c200dc31f0296838888604051602001610fc3949392919093845260208401929092526001600160401b03166040830152606082015260800190565b604051602081830303815290604052805190602001209050610ff1610fe98b8b84610c23565b86868e610c6e565b61100e57604051635cd5d23360e01b815260040160405180910390fd5b509850989650505050505050565b6000858152602081905260409020546001600160401b0316801561116357806001600160401b0316856001600160401b031610156110855760405163038ca1d160e61b81526001600160401b038083166004830152861660248201526044015b60405180910390fd5b60008681526001602090815260408083206001600160401b03808616808652919093529220549190871603611111578085036110df5760405163c1d04bb360e01b81526001600160401b038716600482015260240161107c565b60405163069ecfcf60e51b81526001600160401b0387166004820152602481018290526044810186905260640161107c565b6111318484846001600160401b0316896001600160401b0316858a611498565b6111615760405163697ed58d60e01b81526001600160401b0380841660048301528716602482015260440161107c565b505b60008681526001602090815260408083206001600160401b039889168085529083528184209790975580516060810182529687524388168783019081524289168883019081529984529183905290912094518554915197518716600160801b0267ffffffffffffffff60801b19988816600160401b026fffffffffffffffffffffffffffffffff1990931691909716171795909516939093179091555090919050565b6060815160026112169190611d4b565b6001600160401b0381111561122d5761122d611d62565b6040519080825280601f01601f191660200182016040528015611257576020820181803683370190505b509050602082016020820160005b84518110156113c257828101517f06060606060606060606060606060606060606060606060606060606060606067e0f000f000f000f000f000f000f000f000f000f000f000f000f000f000f000f79ffff000000000000ffff000000000000ffff000000000000ffff77ffffffffffffffff0000000000000000ffffffffffffffff608085901c1667ffffffffffffffff60801b60409590951c9490941693909317602081901b179283167dffff000000000000ffff000000000000ffff000000000000ffff00000000601094851b1617600881901b179081167f0f000f000f000f000f000f000f000f000f000f000f000f000f000f000f000f00600492831b1617918201901c7f010101010101010101010101010101010101010101010101010101010101010116602702017f303030303030303030303030303030303030303030303030303030303030303001600183901b84015201611265565b505050919050565b60606001825b600a81106113f857816113e281611d78565b92506113f19050600a82611d91565b90506113d0565b50806001600160401b0381111561141157611411611d62565b6040519080825280601f01601f19166020018201604052801561143b576020820181803683370190505b5091508060208301015b600019016030600a8506018153600a8404935083611445575050919050565b6000604051600181538360018201528260218201526020600060418360025afa61148d57600080fd5b505060005192915050565b60008515806114a75750604086115b156114b457506000610558565b6000836114c2600188611cf0565b8716156114ea57888860008181106114dc576114dc611a80565b905060200201359050600191505b8060006114f860018a611cf0565b9050600061150760018a611cf0565b90505b8160011660010361152157600191821c911c61150a565b8a8510156115d3578060000361153f57600095505050505050610558565b60008c8c8781811061155357611553611a80565b905060200201359050826001166001148061156d57508183145b156115b55761157c8186611464565b94506115888185611464565b93505b6001831615801561159b57508215155b156115b057600192831c929190911c9061158b565b6115c2565b6115bf8482611464565b93505b5060019485019491821c911c611521565b801580156115e057508784145b80156115eb57508683145b9c9b505050505050505050505050565b60008083601f84011261160d57600080fd5b5081356001600160401b0381111561162457600080fd5b60208301915083602082850101111561163c57600080fd5b9250929050565b80356001600160401b038116811461165a57600080fd5b919050565b60008083601f84011261167157600080fd5b5081356001600160401b0381111561168857600080fd5b6020830191508360208260051b850101111561163c57600080fd5b600080600080600080608087890312156116bc57600080fd5b86356001600160401b038111156116d257600080fd5b6116de89828a016115fb565b90975095505060208701356001600160401b038111156116fd57600080fd5b8701610100818a03121561171057600080fd5b935061171e60408801611643565b925060608701356001600160401b0381111561173957600080fd5b61174589828a0161165f565b979a9699509497509295939492505050565b6000806020838503121561176a57600080fd5b82356001600160401b0381111561178057600080fd5b61178c858286016115fb565b90969095509350505050565b600080604083850312156117ab57600080fd5b823591506117bb60208401611643565b90509250929050565b80356001600160a01b038116811461165a57600080fd5b803563ffffffff8116811461165a57600080fd5b60008060008060008060008060008060e08b8d03121561180e57600080fd5b6118178b6117c4565b995060208b01356001600160401b0381111561183257600080fd5b61183e8d828e016115fb565b909a509850611851905060408c016117db565b965061185f60608c01611643565b955060808b0135945060a08b01356001600160401b0381111561188157600080fd5b61188d8d828e016115fb565b90955093505060c08b01356001600160401b038111156118ac57600080fd5b6118b88d828e0161165f565b915080935050809150509295989b9194979a5092959850565b600080600080606085870312156118e757600080fd5b6118f0856117c4565b935060208501356001600160401b0381111561190b57600080fd5b611917878288016115fb565b909450925061192a9050604086016117db565b905092959194509250565b60005b83811015611950578181015183820152602001611938565b50506000910152565b60008151808452611971816020860160208601611935565b601f01601f19169290920160200192915050565b60208152600061056e6020830184611959565b6000602082840312156119aa57600080fd5b5035919050565b6000602082840312156119c357600080fd5b61056e826117c4565b6000602082840312156119de57600080fd5b61056e82611643565b6000808335601e198436030181126119fe57600080fd5b8301803591506001600160401b03821115611a1857600080fd5b60200191503681900382131561163c57600080fd5b8183823760009101908152919050565b600060208284031215611a4f57600080fd5b61056e826117db565b8381526001600160401b038316602082015260606040820152600061060c6060830184611959565b634e487b7160e01b600052603260045260246000fd5b6777617962696c6c2f60c01b81528385600883013760008482016205e60f60eb1b60088201528451611acf81600b840160208901611935565b600881830101915050602f60f81b60038201528351611af5816004840160208801611935565b016004019695505050505050565b60008082526c0f644c8caecd2c6ca44744460f609b1b60018301528551611b3181600e850160208a01611935565b6911161132b837b1b4111d60b11b600e918401918201528551611b5b816018840160208a01611935565b600e8183010191505068161135b4b732111d1160b91b600a820152838560138301376b1116113830bcb637b0b2111d60a11b930160138101939093525050601f019392505050565b66161139b2b8911d60c91b81528551600090611bc6816007850160208b01611935565b6905844e6d2ce44744460f60b31b6007918401918201528651611bf0816011840160208b01611935565b600781830101915050681116113a34b6b2911d60b91b600a8201528551611c1e816013840160208a01611935565b600a818301019150506f16113a34b6b2afb9b7bab931b2911d1160811b60098201528385601983013767222c2276223a317d60c01b930160198101939093525050602101949350505050565b60008551611c7c818460208a01611935565b82018486823760009085019081528351611c9a818360208801611935565b019695505050505050565b60008251611cb7818460208701611935565b9190910192915050565b600060208284031215611cd357600080fd5b5051919050565b634e487b7160e01b600052601160045260246000fd5b8181038181111561057157610571611cda565b60008085851115611d1357600080fd5b83861115611d2057600080fd5b5050820193919092039150565b8035602083101561057157600019602084900360031b1b1692915050565b808202811582820484141761057157610571611cda565b634e487b7160e01b600052604160045260246000fd5b600060018201611d8a57611d8a611cda565b5060010190565b600082611dae57634e487b7160e01b600052601260045260246000fd5b50049056fea2646970667358221220adb84a69557422af1981ad46baad1e0dbed86e91e5db6b1029699543004b98a064736f6c63430008250033",
}

// WaybillRegistry is an auto generated Go binding around an Ethereum contract.
type WaybillRegistry struct {
	abi abi.ABI
}

// GetABI returns the ABI associated with this contract binding.
func (c *WaybillRegistry) GetABI() abi.ABI {
	return c.abi
}

// NewWaybillRegistry creates a new instance of WaybillRegistry.
func NewWaybillRegistry() *WaybillRegistry {
	parsed, err := WaybillRegistryMetaData.ParseABI()
	if err != nil {
		panic(errors.New("invalid ABI: " + err.Error()))
	}
	return &WaybillRegistry{abi: *parsed}
}

// Instance creates a wrapper for a deployed contract instance at the given address.
// Use this to create the instance object passed to abigen v2 library functions Call, Transact, etc.
func (c *WaybillRegistry) Instance(backend bind.ContractBackend, addr common.Address) *bind.BoundContract {
	return bind.NewBoundContract(addr, c.abi, backend, backend, backend)
}

// PackAnchor is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd561e301.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function anchor(address device, string fleet, uint32 epoch, uint64 size, bytes32 root, bytes sig, bytes32[] consistency) returns()
func (waybillRegistry *WaybillRegistry) PackAnchor(device common.Address, fleet string, epoch uint32, size uint64, root [32]byte, sig []byte, consistency [][32]byte) []byte {
	enc, err := waybillRegistry.abi.Pack("anchor", device, fleet, epoch, size, root, sig, consistency)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackAnchor is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd561e301.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function anchor(address device, string fleet, uint32 epoch, uint64 size, bytes32 root, bytes sig, bytes32[] consistency) returns()
func (waybillRegistry *WaybillRegistry) TryPackAnchor(device common.Address, fleet string, epoch uint32, size uint64, root [32]byte, sig []byte, consistency [][32]byte) ([]byte, error) {
	return waybillRegistry.abi.Pack("anchor", device, fleet, epoch, size, root, sig, consistency)
}

// PackDomainSeparator is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x6fbeef73.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function domainSeparator(string fleet) view returns(bytes32)
func (waybillRegistry *WaybillRegistry) PackDomainSeparator(fleet string) []byte {
	enc, err := waybillRegistry.abi.Pack("domainSeparator", fleet)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackDomainSeparator is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x6fbeef73.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function domainSeparator(string fleet) view returns(bytes32)
func (waybillRegistry *WaybillRegistry) TryPackDomainSeparator(fleet string) ([]byte, error) {
	return waybillRegistry.abi.Pack("domainSeparator", fleet)
}

// UnpackDomainSeparator is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x6fbeef73.
//
// Solidity: function domainSeparator(string fleet) view returns(bytes32)
func (waybillRegistry *WaybillRegistry) UnpackDomainSeparator(data []byte) ([32]byte, error) {
	out, err := waybillRegistry.abi.Unpack("domainSeparator", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackHead is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf339e3b2.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function head(bytes32 logId) view returns(uint64 size, bytes32 root, uint64 blockNumber, uint64 timestamp)
func (waybillRegistry *WaybillRegistry) PackHead(logId [32]byte) []byte {
	enc, err := waybillRegistry.abi.Pack("head", logId)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackHead is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf339e3b2.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function head(bytes32 logId) view returns(uint64 size, bytes32 root, uint64 blockNumber, uint64 timestamp)
func (waybillRegistry *WaybillRegistry) TryPackHead(logId [32]byte) ([]byte, error) {
	return waybillRegistry.abi.Pack("head", logId)
}

// HeadOutput serves as a container for the return parameters of contract
// method Head.
type HeadOutput struct {
	Size        uint64
	Root        [32]byte
	BlockNumber uint64
	Timestamp   uint64
}

// UnpackHead is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xf339e3b2.
//
// Solidity: function head(bytes32 logId) view returns(uint64 size, bytes32 root, uint64 blockNumber, uint64 timestamp)
func (waybillRegistry *WaybillRegistry) UnpackHead(data []byte) (HeadOutput, error) {
	out, err := waybillRegistry.abi.Unpack("head", data)
	outstruct := new(HeadOutput)
	if err != nil {
		return *outstruct, err
	}
	outstruct.Size = *abi.ConvertType(out[0], new(uint64)).(*uint64)
	outstruct.Root = *abi.ConvertType(out[1], new([32]byte)).(*[32]byte)
	outstruct.BlockNumber = *abi.ConvertType(out[2], new(uint64)).(*uint64)
	outstruct.Timestamp = *abi.ConvertType(out[3], new(uint64)).(*uint64)
	return *outstruct, nil
}

// PackLogIdOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xe3556f57.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function logIdOf(address device, string fleet, uint32 epoch) pure returns(bytes32)
func (waybillRegistry *WaybillRegistry) PackLogIdOf(device common.Address, fleet string, epoch uint32) []byte {
	enc, err := waybillRegistry.abi.Pack("logIdOf", device, fleet, epoch)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackLogIdOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xe3556f57.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function logIdOf(address device, string fleet, uint32 epoch) pure returns(bytes32)
func (waybillRegistry *WaybillRegistry) TryPackLogIdOf(device common.Address, fleet string, epoch uint32) ([]byte, error) {
	return waybillRegistry.abi.Pack("logIdOf", device, fleet, epoch)
}

// UnpackLogIdOf is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xe3556f57.
//
// Solidity: function logIdOf(address device, string fleet, uint32 epoch) pure returns(bytes32)
func (waybillRegistry *WaybillRegistry) UnpackLogIdOf(data []byte) ([32]byte, error) {
	out, err := waybillRegistry.abi.Unpack("logIdOf", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackOriginOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd9e85909.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function originOf(address device, string fleet, uint32 epoch) pure returns(string)
func (waybillRegistry *WaybillRegistry) PackOriginOf(device common.Address, fleet string, epoch uint32) []byte {
	enc, err := waybillRegistry.abi.Pack("originOf", device, fleet, epoch)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackOriginOf is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd9e85909.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function originOf(address device, string fleet, uint32 epoch) pure returns(string)
func (waybillRegistry *WaybillRegistry) TryPackOriginOf(device common.Address, fleet string, epoch uint32) ([]byte, error) {
	return waybillRegistry.abi.Pack("originOf", device, fleet, epoch)
}

// UnpackOriginOf is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xd9e85909.
//
// Solidity: function originOf(address device, string fleet, uint32 epoch) pure returns(string)
func (waybillRegistry *WaybillRegistry) UnpackOriginOf(data []byte) (string, error) {
	out, err := waybillRegistry.abi.Unpack("originOf", data)
	if err != nil {
		return *new(string), err
	}
	out0 := *abi.ConvertType(out[0], new(string)).(*string)
	return out0, nil
}

// PackRootAt is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x930b6ace.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function rootAt(bytes32 logId, uint64 size) view returns(bytes32)
func (waybillRegistry *WaybillRegistry) PackRootAt(logId [32]byte, size uint64) []byte {
	enc, err := waybillRegistry.abi.Pack("rootAt", logId, size)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackRootAt is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x930b6ace.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function rootAt(bytes32 logId, uint64 size) view returns(bytes32)
func (waybillRegistry *WaybillRegistry) TryPackRootAt(logId [32]byte, size uint64) ([]byte, error) {
	return waybillRegistry.abi.Pack("rootAt", logId, size)
}

// UnpackRootAt is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x930b6ace.
//
// Solidity: function rootAt(bytes32 logId, uint64 size) view returns(bytes32)
func (waybillRegistry *WaybillRegistry) UnpackRootAt(data []byte) ([32]byte, error) {
	out, err := waybillRegistry.abi.Unpack("rootAt", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackVerifyEvent is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x69387647.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function verifyEvent(string fleet, (address,uint32,uint64,uint64,string,string,bytes,bytes) ev, uint64 size, bytes32[] inclusion) view returns(bool)
func (waybillRegistry *WaybillRegistry) PackVerifyEvent(fleet string, ev WaybillRegistrySignedEvent, size uint64, inclusion [][32]byte) []byte {
	enc, err := waybillRegistry.abi.Pack("verifyEvent", fleet, ev, size, inclusion)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackVerifyEvent is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x69387647.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function verifyEvent(string fleet, (address,uint32,uint64,uint64,string,string,bytes,bytes) ev, uint64 size, bytes32[] inclusion) view returns(bool)
func (waybillRegistry *WaybillRegistry) TryPackVerifyEvent(fleet string, ev WaybillRegistrySignedEvent, size uint64, inclusion [][32]byte) ([]byte, error) {
	return waybillRegistry.abi.Pack("verifyEvent", fleet, ev, size, inclusion)
}

// UnpackVerifyEvent is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x69387647.
//
// Solidity: function verifyEvent(string fleet, (address,uint32,uint64,uint64,string,string,bytes,bytes) ev, uint64 size, bytes32[] inclusion) view returns(bool)
func (waybillRegistry *WaybillRegistry) UnpackVerifyEvent(data []byte) (bool, error) {
	out, err := waybillRegistry.abi.Unpack("verifyEvent", data)
	if err != nil {
		return *new(bool), err
	}
	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)
	return out0, nil
}

// WaybillRegistryAnchored represents a Anchored event raised by the WaybillRegistry contract.
type WaybillRegistryAnchored struct {
	Device       common.Address
	LogId        [32]byte
	Size         uint64
	Root         [32]byte
	PreviousSize uint64
	Origin       string
	Raw          *types.Log // Blockchain specific contextual infos
}

const WaybillRegistryAnchoredEventName = "Anchored"

// ContractEventName returns the user-defined event name.
func (WaybillRegistryAnchored) ContractEventName() string {
	return WaybillRegistryAnchoredEventName
}

// UnpackAnchoredEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Anchored(address indexed device, bytes32 indexed logId, uint64 indexed size, bytes32 root, uint64 previousSize, string origin)
func (waybillRegistry *WaybillRegistry) UnpackAnchoredEvent(log *types.Log) (*WaybillRegistryAnchored, error) {
	event := "Anchored"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != waybillRegistry.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(WaybillRegistryAnchored)
	if len(log.Data) > 0 {
		if err := waybillRegistry.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range waybillRegistry.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// UnpackError attempts to decode the provided error data using user-defined
// error definitions.
func (waybillRegistry *WaybillRegistry) UnpackError(raw []byte) (any, error) {
	if bytes.Equal(raw[:4], waybillRegistry.abi.Errors["AlreadyAnchored"].ID.Bytes()[:4]) {
		return waybillRegistry.UnpackAlreadyAnchoredError(raw[4:])
	}
	if bytes.Equal(raw[:4], waybillRegistry.abi.Errors["BadSignature"].ID.Bytes()[:4]) {
		return waybillRegistry.UnpackBadSignatureError(raw[4:])
	}
	if bytes.Equal(raw[:4], waybillRegistry.abi.Errors["ConflictingRoot"].ID.Bytes()[:4]) {
		return waybillRegistry.UnpackConflictingRootError(raw[4:])
	}
	if bytes.Equal(raw[:4], waybillRegistry.abi.Errors["EmptyTree"].ID.Bytes()[:4]) {
		return waybillRegistry.UnpackEmptyTreeError(raw[4:])
	}
	if bytes.Equal(raw[:4], waybillRegistry.abi.Errors["InconsistentRoot"].ID.Bytes()[:4]) {
		return waybillRegistry.UnpackInconsistentRootError(raw[4:])
	}
	if bytes.Equal(raw[:4], waybillRegistry.abi.Errors["InvalidFleet"].ID.Bytes()[:4]) {
		return waybillRegistry.UnpackInvalidFleetError(raw[4:])
	}
	if bytes.Equal(raw[:4], waybillRegistry.abi.Errors["SizeBackwards"].ID.Bytes()[:4]) {
		return waybillRegistry.UnpackSizeBackwardsError(raw[4:])
	}
	if bytes.Equal(raw[:4], waybillRegistry.abi.Errors["ZeroDevice"].ID.Bytes()[:4]) {
		return waybillRegistry.UnpackZeroDeviceError(raw[4:])
	}
	if bytes.Equal(raw[:4], waybillRegistry.abi.Errors["ZeroRoot"].ID.Bytes()[:4]) {
		return waybillRegistry.UnpackZeroRootError(raw[4:])
	}
	return nil, errors.New("Unknown error")
}

// WaybillRegistryAlreadyAnchored represents a AlreadyAnchored error raised by the WaybillRegistry contract.
type WaybillRegistryAlreadyAnchored struct {
	Size uint64
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error AlreadyAnchored(uint64 size)
func WaybillRegistryAlreadyAnchoredErrorID() common.Hash {
	return common.HexToHash("0xc1d04bb3e8fbd17f71ed1794995136482be0707c138ab7a17ae7df8dee40fa18")
}

// UnpackAlreadyAnchoredError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error AlreadyAnchored(uint64 size)
func (waybillRegistry *WaybillRegistry) UnpackAlreadyAnchoredError(raw []byte) (*WaybillRegistryAlreadyAnchored, error) {
	out := new(WaybillRegistryAlreadyAnchored)
	if err := waybillRegistry.abi.UnpackIntoInterface(out, "AlreadyAnchored", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// WaybillRegistryBadSignature represents a BadSignature error raised by the WaybillRegistry contract.
type WaybillRegistryBadSignature struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error BadSignature()
func WaybillRegistryBadSignatureErrorID() common.Hash {
	return common.HexToHash("0x5cd5d2335541c4f2ed05fbe44f397e8b79f8e2333157122d2dab06e378ef7685")
}

// UnpackBadSignatureError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error BadSignature()
func (waybillRegistry *WaybillRegistry) UnpackBadSignatureError(raw []byte) (*WaybillRegistryBadSignature, error) {
	out := new(WaybillRegistryBadSignature)
	if err := waybillRegistry.abi.UnpackIntoInterface(out, "BadSignature", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// WaybillRegistryConflictingRoot represents a ConflictingRoot error raised by the WaybillRegistry contract.
type WaybillRegistryConflictingRoot struct {
	Size         uint64
	AnchoredRoot [32]byte
	Root         [32]byte
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ConflictingRoot(uint64 size, bytes32 anchoredRoot, bytes32 root)
func WaybillRegistryConflictingRootErrorID() common.Hash {
	return common.HexToHash("0xd3d9f9e0948a0546891de5ba22838177e6d263328e3cd86f9980bacfcfef9e46")
}

// UnpackConflictingRootError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ConflictingRoot(uint64 size, bytes32 anchoredRoot, bytes32 root)
func (waybillRegistry *WaybillRegistry) UnpackConflictingRootError(raw []byte) (*WaybillRegistryConflictingRoot, error) {
	out := new(WaybillRegistryConflictingRoot)
	if err := waybillRegistry.abi.UnpackIntoInterface(out, "ConflictingRoot", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// WaybillRegistryEmptyTree represents a EmptyTree error raised by the WaybillRegistry contract.
type WaybillRegistryEmptyTree struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error EmptyTree()
func WaybillRegistryEmptyTreeErrorID() common.Hash {
	return common.HexToHash("0x91363287e86abc9a32e9497c199d101108698f0547673152e7d0221a248c212a")
}

// UnpackEmptyTreeError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error EmptyTree()
func (waybillRegistry *WaybillRegistry) UnpackEmptyTreeError(raw []byte) (*WaybillRegistryEmptyTree, error) {
	out := new(WaybillRegistryEmptyTree)
	if err := waybillRegistry.abi.UnpackIntoInterface(out, "EmptyTree", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// WaybillRegistryInconsistentRoot represents a InconsistentRoot error raised by the WaybillRegistry contract.
type WaybillRegistryInconsistentRoot struct {
	AnchoredSize uint64
	Size         uint64
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error InconsistentRoot(uint64 anchoredSize, uint64 size)
func WaybillRegistryInconsistentRootErrorID() common.Hash {
	return common.HexToHash("0x697ed58d2c5fdc7e080ec09247a554e1c0512d4b7944e31518ac6b0f4909aed7")
}

// UnpackInconsistentRootError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error InconsistentRoot(uint64 anchoredSize, uint64 size)
func (waybillRegistry *WaybillRegistry) UnpackInconsistentRootError(raw []byte) (*WaybillRegistryInconsistentRoot, error) {
	out := new(WaybillRegistryInconsistentRoot)
	if err := waybillRegistry.abi.UnpackIntoInterface(out, "InconsistentRoot", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// WaybillRegistryInvalidFleet represents a InvalidFleet error raised by the WaybillRegistry contract.
type WaybillRegistryInvalidFleet struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error InvalidFleet()
func WaybillRegistryInvalidFleetErrorID() common.Hash {
	return common.HexToHash("0xfd9a347d7f5a83abc2cd5f60cce3e8c70cfce1c307fc36668406c4b142255d58")
}

// UnpackInvalidFleetError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error InvalidFleet()
func (waybillRegistry *WaybillRegistry) UnpackInvalidFleetError(raw []byte) (*WaybillRegistryInvalidFleet, error) {
	out := new(WaybillRegistryInvalidFleet)
	if err := waybillRegistry.abi.UnpackIntoInterface(out, "InvalidFleet", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// WaybillRegistrySizeBackwards represents a SizeBackwards error raised by the WaybillRegistry contract.
type WaybillRegistrySizeBackwards struct {
	AnchoredSize uint64
	Size         uint64
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error SizeBackwards(uint64 anchoredSize, uint64 size)
func WaybillRegistrySizeBackwardsErrorID() common.Hash {
	return common.HexToHash("0xe32874400991f9f59f7dcf452e938ad10d8263308ea9eda7a1e5c3b6b0566c50")
}

// UnpackSizeBackwardsError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error SizeBackwards(uint64 anchoredSize, uint64 size)
func (waybillRegistry *WaybillRegistry) UnpackSizeBackwardsError(raw []byte) (*WaybillRegistrySizeBackwards, error) {
	out := new(WaybillRegistrySizeBackwards)
	if err := waybillRegistry.abi.UnpackIntoInterface(out, "SizeBackwards", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// WaybillRegistryZeroDevice represents a ZeroDevice error raised by the WaybillRegistry contract.
type WaybillRegistryZeroDevice struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ZeroDevice()
func WaybillRegistryZeroDeviceErrorID() common.Hash {
	return common.HexToHash("0xbf064c479ba443493924be2e8a508adce0d75774d1a3901d943fb1c05cab4f37")
}

// UnpackZeroDeviceError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ZeroDevice()
func (waybillRegistry *WaybillRegistry) UnpackZeroDeviceError(raw []byte) (*WaybillRegistryZeroDevice, error) {
	out := new(WaybillRegistryZeroDevice)
	if err := waybillRegistry.abi.UnpackIntoInterface(out, "ZeroDevice", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// WaybillRegistryZeroRoot represents a ZeroRoot error raised by the WaybillRegistry contract.
type WaybillRegistryZeroRoot struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ZeroRoot()
func WaybillRegistryZeroRootErrorID() common.Hash {
	return common.HexToHash("0xb263ae738e814ca9af6ee56bb85daa47624e790421913c947dcba2aac07cfdbd")
}

// UnpackZeroRootError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ZeroRoot()
func (waybillRegistry *WaybillRegistry) UnpackZeroRootError(raw []byte) (*WaybillRegistryZeroRoot, error) {
	out := new(WaybillRegistryZeroRoot)
	if err := waybillRegistry.abi.UnpackIntoInterface(out, "ZeroRoot", raw); err != nil {
		return nil, err
	}
	return out, nil
}

/// Every resource group the server serves, in registration order. Add a group here when you add its file.
enum Groups {
    static let all: [ResourceGroup.Type] = [
        HealthControl.self,
        SandboxesAPI.self,
        ExecAPI.self,
        ProcessesAPI.self,
        ComputersAPI.self,
    ]
}

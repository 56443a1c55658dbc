/// Every resource group the server serves, in registration order. Add a group here when you add its file.
enum Groups {
    static let all: [ResourceGroup.Type] = [
        HealthControl.self,
        SandboxesAPI.self,
        IdempotencyStore.self,
        ClockControl.self,
        ResetControl.self,
        FaultsControl.self,
        JournalControl.self,
        OpenAPIControl.self,
        FilesAPI.self,
        ComputerFilesAPI.self,
        EnvAPI.self,
        PreviewTokensAPI.self,
        SnapshotsAPI.self,
        ForkAPI.self,
        TemplatesAPI.self,
        EventsAPI.self,
        ExecAPI.self,
        ProcessesAPI.self,
        ComputersAPI.self,
    ]
}

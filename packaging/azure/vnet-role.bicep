// The vSensor Role on the Virtual Network's Resource Group when it is not the
// deployment's (azuredeploy.json's nested deployment "PREFIX-vnet-role", inner scope):
// the vSensors read the monitored network's VMs and NICs for cloud tracking.
param vmssName string
param roleDefinitionId string
param principalId string

resource vnetRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, vmssName, 'vsensor-role')
  properties: {
    description: 'The vSensors read the monitored virtual network\'s resource group (Darktrace cloud tracking).'
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
